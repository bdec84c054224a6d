"""The `llmeval` command line. Each area adds its commands in its own module (registry.py, engine.py, ...);
heavy libraries (vllm, torch, dagster) are imported inside commands, never at module level, so the registry
commands answer in well under two seconds."""
