"""Training: settings -> LoraConfig / BitsAndBytesConfig / SFTConfig, TRL's SFTTrainer, preflight (notebook 03)."""
