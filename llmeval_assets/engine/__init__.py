"""Inference: model weights (`weights`), the engine interface (`base`, `requests`), the in-process vLLM engine
(`vllm_engine`), the OpenAI-compatible backend (`openai_engine`) and the Dagster resource (`resource`).
Importing this package is light: vLLM and torch load only when an engine is built."""
