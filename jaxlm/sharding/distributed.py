"""Multi-process runs on JAX's own runtime: `jax.distributed.initialize` from flags or the environment."""

import os

import jax

from jaxlm.errors import UserError
from jaxlm.sharding.supervisor import announce

ENV = {
    "coordinator": "JAXLM_COORDINATOR",
    "num_processes": "JAXLM_NUM_PROCESSES",
    "process_id": "JAXLM_PROCESS_ID",
    "local_device_ids": "JAXLM_LOCAL_DEVICE_IDS",
    "heartbeat_timeout": "JAXLM_HEARTBEAT_TIMEOUT",
}
HEARTBEAT_TIMEOUT = 100  # jax's own default: a peer silent this long is declared dead and every process stops


def local_device_ids(spec: str | None) -> list[int] | None:
    """`0,1,2,3` → those ids; `localid` → the one at SLURM_LOCALID (one process per GPU); None → JAX's default."""
    if spec is None:
        return None
    if spec == "localid":
        if "SLURM_LOCALID" not in os.environ:
            raise UserError(
                "--local-device-ids localid reads SLURM_LOCALID, which is not set: start the processes "
                "with srun, or give the ids (e.g. --local-device-ids 0,1)"
            )
        return [int(os.environ["SLURM_LOCALID"])]
    try:
        return [int(x) for x in spec.split(",")]
    except ValueError:
        raise UserError(
            f"--local-device-ids '{spec}' is neither `localid` nor comma-separated integers (e.g. 0,1,2,3)"
        ) from None


def heartbeat_seconds(text: str) -> int:
    """--heartbeat-timeout: a whole number of seconds, at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise UserError(f"--heartbeat-timeout '{text}' must be a whole number of seconds, at least 1")
    return int(text)


def wanted(coordinator: str | None, auto: bool) -> bool:
    """Whether this command joins a multi-process run (a coordinator, from flag or environment, or auto)."""
    return bool(coordinator or os.environ.get(ENV["coordinator"]) or auto)


def initialize(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    auto: bool = False,
    device_ids: list[int] | None = None,
    heartbeat_timeout: int | None = None,
) -> None:
    """Join a multi-process run before any JAX computation.

    Explicit: coordinator address, process count and this process's id (flags, else JAXLM_* variables).
    `auto`: let JAX detect the cluster (TPU pod slices, Slurm, Open MPI, ...). Neither: a single process.
    `device_ids` (see `local_device_ids`) picks this process's accelerators; a peer silent for `heartbeat_timeout`
    seconds stops the run. On CPU the cross-process collectives use gloo.
    """
    coordinator = coordinator or os.environ.get(ENV["coordinator"])
    if num_processes is None and os.environ.get(ENV["num_processes"]):
        num_processes = int(os.environ[ENV["num_processes"]])
    if process_id is None and os.environ.get(ENV["process_id"]):
        process_id = int(os.environ[ENV["process_id"]])
    if not wanted(coordinator, auto):
        if num_processes not in (None, 1) or device_ids or heartbeat_timeout:
            raise UserError(
                "--num-processes, --local-device-ids and --heartbeat-timeout need --coordinator HOST:PORT "
                "(or --distributed auto)"
            )
        return
    device_ids = device_ids or local_device_ids(os.environ.get(ENV["local_device_ids"]))
    heartbeat_timeout = heartbeat_timeout or heartbeat_seconds(
        os.environ.get(ENV["heartbeat_timeout"], str(HEARTBEAT_TIMEOUT))
    )
    if coordinator and (num_processes is None or process_id is None):
        raise UserError(
            "--coordinator needs --num-processes N and --process-id I (or JAXLM_NUM_PROCESSES and JAXLM_PROCESS_ID)"
        )
    if coordinator and not 0 <= process_id < num_processes:
        raise UserError(f"--process-id {process_id} must be in [0, {num_processes})")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(
            coordinator,
            num_processes,
            process_id,
            local_device_ids=device_ids,
            heartbeat_timeout_seconds=heartbeat_timeout,
        )
    except ValueError:  # `auto` outside any cluster JAX knows: no coordinator address
        raise UserError(
            "--distributed auto found no cluster to join: start the processes with srun or mpirun or on "
            "a TPU pod slice, or give --coordinator HOST:PORT --num-processes N --process-id I"
        ) from None
    announce(jax.process_index(), jax.process_count())


def add_flags(parser) -> None:
    """The multi-process flags shared by commands that run a model."""
    g = parser.add_argument_group("multi-process (jax.distributed)")
    g.add_argument("--coordinator", help="HOST:PORT of process 0 (env JAXLM_COORDINATOR)")
    g.add_argument("--num-processes", type=int, help="number of processes (env JAXLM_NUM_PROCESSES)")
    g.add_argument("--process-id", type=int, help="this process's index (env JAXLM_PROCESS_ID)")
    g.add_argument("--distributed", choices=("auto",), help="auto-detect the cluster (TPU pod slice, Slurm, ...)")
    g.add_argument(
        "--local-device-ids",
        metavar="IDS",
        type=local_device_ids,
        help="accelerators this process drives: `localid` = the one at SLURM_LOCALID (one process per "
        "GPU), or ids such as 0,1,2,3 (one process per node); default: JAX's choice, which under "
        "Slurm is one GPU per process (env JAXLM_LOCAL_DEVICE_IDS)",
    )
    g.add_argument(
        "--heartbeat-timeout",
        type=heartbeat_seconds,
        metavar="SECONDS",
        help=f"a process silent this long counts as lost and the others stop with exit 2 "
        f"(default {HEARTBEAT_TIMEOUT}; env JAXLM_HEARTBEAT_TIMEOUT)",
    )


def wanted_by_args(args) -> bool:
    """Whether the command's flags (or the environment) ask for a multi-process run."""
    return wanted(args.coordinator, args.distributed == "auto")


def initialize_from_args(args) -> None:
    initialize(
        args.coordinator,
        args.num_processes,
        args.process_id,
        args.distributed == "auto",
        device_ids=args.local_device_ids,
        heartbeat_timeout=args.heartbeat_timeout,
    )
