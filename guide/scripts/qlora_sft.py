"""The course's QLoRA run as a plain script: transformers + peft + bitsandbytes + trl, no helpers.

    python guide/scripts/qlora_sft.py MODEL_DIR data/support/train.jsonl data/support/eval.jsonl OUT_DIR [MAX_STEPS]

The same settings notebook 03 prints for the `cpu` profile; the MAX_STEPS argument overrides its 44
steps (-1 for whole epochs, a small number for a smoke run). On a CUDA GPU the base is loaded in
4-bit NF4 and trained in bf16 with paged 8-bit AdamW (QLoRA); a CPU with native bf16 autocasts to bf16.
"""
import json
import sys

import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
from trl import SFTConfig, SFTTrainer

SYSTEM = "Extract order_id, product, issue_type, requested_action and sentiment as JSON."
LORA = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM")
MAX_STEPS = 44  # the cpu profile's: one packed epoch of 256 support rows


def rows(path):  # {"input": ..., "output": ...} per line -> a prompt-completion conversation
    lines = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    return Dataset.from_list([{"prompt": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": r["input"]}],
                               "completion": [{"role": "assistant", "content": r["output"]}]} for r in lines])


def sft_config(out_dir, cuda, max_steps=MAX_STEPS):
    return SFTConfig(output_dir=out_dir, per_device_train_batch_size=2, learning_rate=2e-4 if cuda else 1e-3,
                     num_train_epochs=1, max_steps=max_steps, warmup_steps=0.05, max_length=512, packing=True,
                     completion_only_loss=True, gradient_checkpointing=cuda, use_cpu=not cuda, bf16=cuda or torch.ops.mkldnn._is_mkldnn_bf16_supported(),
                     optim="paged_adamw_8bit" if cuda else "adamw_torch", logging_steps=1, save_steps=20,
                     eval_strategy="steps", eval_steps=20, report_to="none", seed=42)


def main(model_dir, train_path, eval_path, out_dir, max_steps=MAX_STEPS):
    cuda = torch.cuda.is_available()
    bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                             bnb_4bit_compute_dtype=torch.bfloat16) if cuda else None
    model = AutoModelForCausalLM.from_pretrained(model_dir, quantization_config=bnb, use_safetensors=True,
                                                 dtype=torch.bfloat16 if cuda else torch.float32)
    trainer = SFTTrainer(model=model, args=sft_config(out_dir, cuda, max_steps), train_dataset=rows(train_path), eval_dataset=rows(eval_path),
                         processing_class=AutoTokenizer.from_pretrained(model_dir), peft_config=LORA)
    trainer.train()
    trainer.save_model(out_dir + "/final")  # adapter_model.safetensors + adapter_config.json


if __name__ == "__main__":
    main(*sys.argv[1:5], *[int(a) for a in sys.argv[5:6]])
