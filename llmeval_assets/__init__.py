"""llmeval: incremental, reproducible LLM evaluation."""
