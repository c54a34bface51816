"""int8 with its encoder in int8 against int8 with its encoder in bfloat16 (`quantize_int8(...,
encoder_bf16=...)`; the default on a CPU with AMX), one process taking turns recording by
recording (the first rotating), each recording transcribed alone with the defaults: windows
decoded, WER, seconds, speed-up over the int8 encoder.

    python benchmarks/int8_encoder.py --model tiny.en --data data/long --limit 12 \\
        --output benchmarks/results/int8_encoder_tiny_cpu
"""

import torch

from whisper_eas import load_model
from whisper_eas.quantize import quantize_int8
from whisper_eas.research.bench import manifest_records, take_turns, turns_arguments, write_turns

VARIANTS = {"int8 encoder": False, "bf16 encoder": True}


def main():
    args = turns_arguments(__doc__).parse_args()
    torch.set_num_threads(args.threads)
    records = manifest_records(args.data, args.limit)
    model = load_model(args.model)
    networks = {
        name: quantize_int8(load_model(args.model).network, encoder_bf16=bf16)
        for name, bf16 in VARIANTS.items()
    }
    setups = {
        name: lambda n=network: setattr(model, "network", n) for name, network in networks.items()
    }
    runs = take_turns(model, args.data, records, setups)
    write_turns(args, records, runs, "int8: the encoder in int8 or in bfloat16", "encoder",
                "int8 decoder either way, defaults")  # fmt: skip


if __name__ == "__main__":
    main()
