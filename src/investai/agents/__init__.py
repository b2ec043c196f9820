"""The agent team (supervisor, planning, research, analysis, compliance, synthesis) and the model router."""
