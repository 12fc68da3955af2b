"""Runner presets (`--profile`), so a user does not need to know a dozen flags.

A profile only fills in flags the user did not give; anything on the command
line wins. Required site-specific values (project, region, bucket, image)
still come from the user and are listed in `REQUIRED`.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

PROFILES: Dict[str, List[str]] = {
    # This machine: in-process FnApiRunner (never Beam's DirectRunner, which
    # tries to download Prism).
    'local': ['--runner=FnApiRunner'],
    # Dataflow Runner v2 with one NVIDIA L4 per worker, bf16. Runner v2
    # starts one SDK process per vCPU (8 here); each does its own host work
    # (planning and tokenising, stacking, decoding, Beam) and holds its own
    # model copy on the one GPU, whose kernels run concurrently under NVIDIA
    # MPS. One bundle at a time per process: more threads would only share
    # that process's GIL. (--large_model would serve every process from one
    # model process through a proxy: one GIL for all of gliner's work.)
    'dataflow-gpu': [
        '--runner=DataflowRunner',
        '--experiments=use_runner_v2',
        '--machine_type=g2-standard-8',
        '--dataflow_service_options='
        'worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver;'
        'use_nvidia_mps',
        '--number_of_worker_harness_threads=1',
        '--device=cuda',
        '--dtype=bfloat16',
        '--max_batch_tokens=16384',
    ],
    # Flink through Beam's portable job server; SDK workers from a worker
    # pool (or --environment_type=DOCKER with our image).
    'flink': [
        '--runner=FlinkRunner',
        '--environment_type=EXTERNAL',
        '--environment_config=localhost:50000',
    ],
}

REQUIRED: Dict[str, List[str]] = {
    'local': [],
    'dataflow-gpu': ['--project', '--region', '--temp_location',
                     '--sdk_container_image'],
    'flink': ['--flink_master'],
}


def _flag(arg: str) -> str:
  return arg.split('=', 1)[0]


def apply_profile(argv: Sequence[str]) -> List[str]:
  """argv with `--profile NAME` replaced by the profile's missing flags."""
  argv = list(argv)
  name = None
  for i, arg in enumerate(argv):
    if arg == '--profile' and i + 1 < len(argv):
      name = argv[i + 1]
      del argv[i:i + 2]
      break
    if arg.startswith('--profile='):
      name = arg.split('=', 1)[1]
      del argv[i]
      break
  if name is None:
    return argv
  if name not in PROFILES:
    raise KeyError(name)
  given = {_flag(a) for a in argv if a.startswith('--')}
  missing = [f for f in REQUIRED[name] if f not in given]
  if missing:
    raise ValueError(f'profile {name} also needs {", ".join(missing)}')
  return argv + [a for a in PROFILES[name] if _flag(a) not in given]
