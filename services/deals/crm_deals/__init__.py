"""The deals service: pipelines (the documented sales process), deals, stage history."""
