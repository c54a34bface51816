"""int8 with its encoder in int8, in bfloat16, and in bfloat16 with the decoder's cross-attention
K/V made by bf16 products too (`quantize_int8(..., encoder_bf16=..., cross_projection_bf16=...)`;
the last is the default on a CPU with AMX), with int8 or float32 logits (`float_logits`), or
with the int8 encoder's attention products in float32 or bf16 (`attention_bf16`), one process
taking turns recording by recording (the first rotating), each recording transcribed alone with
the defaults: windows decoded, WER, seconds, speed-up over the first variant.

    python benchmarks/int8_encoder.py --model tiny.en --data data/long --limit 12 \\
        --output benchmarks/results/int8_encoder_tiny_cpu
    python benchmarks/int8_encoder.py --model base --data data/long --limit 12 \\
        --variants "bf16 encoder,bf16 encoder and cross K/V" \\
        --output benchmarks/results/cross_projection_bf16_base_cpu
    python benchmarks/int8_encoder.py --model base --data data/long --limit 12 \\
        --variants "int8 logits,float32 logits" --output benchmarks/results/float_logits_base_cpu
    python benchmarks/int8_encoder.py --model base --data data/long --limit 12 \\
        --variants "float32 attention,bf16 attention" \\
        --output benchmarks/results/attention_bf16_base_cpu

The first three variants were measured before the output projection stayed float32 (commit
4bfdbdc); they now run with the CPU's default (float32 logits where it has VNNI).
"""

import torch

from whisper_eas import load_model
from whisper_eas.quantize import quantize_int8
from whisper_eas.research.bench import manifest_records, take_turns, turns_arguments, write_turns

VARIANTS = {  # quantize_int8's options
    "int8 encoder": dict(encoder_bf16=False),
    "bf16 encoder": dict(encoder_bf16=True, cross_projection_bf16=False),
    "bf16 encoder and cross K/V": dict(encoder_bf16=True, cross_projection_bf16=True),
    # the output projection (docs/int8.md); the others keep the CPU's default
    "int8 logits": dict(float_logits=False),
    "float32 logits": dict(float_logits=True),
    # the int8 encoder's self-attention products (docs/int8.md)
    "float32 attention": dict(attention_bf16=False),
    "bf16 attention": dict(attention_bf16=True),
}


def main():
    parser = turns_arguments(__doc__)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="the first: baseline")
    args = parser.parse_args()
    unknown = [name for name in args.variants.split(",") if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    torch.set_num_threads(args.threads)
    records = manifest_records(args.data, args.limit, args.pick)
    model = load_model(args.model)
    networks = {
        name: quantize_int8(load_model(args.model).network, **VARIANTS[name])
        for name in args.variants.split(",")
    }
    setups = {
        name: lambda n=network: setattr(model, "network", n) for name, network in networks.items()
    }
    runs = take_turns(model, args.data, records, setups)
    write_turns(args, records, runs, "int8 variants: encoder, cross K/V, logits", "variant",
                "int8 decoder otherwise, defaults")  # fmt: skip


if __name__ == "__main__":
    main()
