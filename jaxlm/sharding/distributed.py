"""Multi-process runs on JAX's own runtime: `jax.distributed.initialize` from flags or the environment."""

import os

import jax

from jaxlm.errors import UserError

ENV = {"coordinator": "JAXLM_COORDINATOR", "num_processes": "JAXLM_NUM_PROCESSES", "process_id": "JAXLM_PROCESS_ID"}


def initialize(coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None,
               auto: bool = False) -> None:
    """Join a multi-process run before any JAX computation.

    Explicit: coordinator address, process count and this process's id (flags, else JAXLM_* variables).
    `auto`: let JAX detect the cluster (TPU pod slices, Slurm, Open MPI, ...). Neither: a single process.
    On CPU the cross-process collectives use gloo.
    """
    coordinator = coordinator or os.environ.get(ENV["coordinator"])
    if num_processes is None and os.environ.get(ENV["num_processes"]):
        num_processes = int(os.environ[ENV["num_processes"]])
    if process_id is None and os.environ.get(ENV["process_id"]):
        process_id = int(os.environ[ENV["process_id"]])
    if not (coordinator or auto):
        if num_processes not in (None, 1):
            raise UserError("--num-processes needs --coordinator HOST:PORT (or --distributed auto)")
        return
    if coordinator and (num_processes is None or process_id is None):
        raise UserError("--coordinator needs --num-processes N and --process-id I (or JAXLM_NUM_PROCESSES and "
                        "JAXLM_PROCESS_ID)")
    if coordinator and not 0 <= process_id < num_processes:
        raise UserError(f"--process-id {process_id} must be in [0, {num_processes})")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if coordinator:
        jax.distributed.initialize(coordinator, num_processes, process_id)
    else:
        jax.distributed.initialize()


def add_flags(parser) -> None:
    """The multi-process flags shared by commands that run a model."""
    g = parser.add_argument_group("multi-process (jax.distributed)")
    g.add_argument("--coordinator", help="HOST:PORT of process 0 (env JAXLM_COORDINATOR)")
    g.add_argument("--num-processes", type=int, help="number of processes (env JAXLM_NUM_PROCESSES)")
    g.add_argument("--process-id", type=int, help="this process's index (env JAXLM_PROCESS_ID)")
    g.add_argument("--distributed", choices=("auto",), help="auto-detect the cluster (TPU pod slice, Slurm, ...)")


def initialize_from_args(args) -> None:
    initialize(args.coordinator, args.num_processes, args.process_id, args.distributed == "auto")
