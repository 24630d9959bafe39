"""HumanEval helpfulness (App. G): completions under steering, executed in a sandbox."""
