"""Docker integration tests: the real vllm-router in front of mock vLLM containers."""
