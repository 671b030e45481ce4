from herald.kit.migrations import run_env
from herald.scheduler.models import metadata

run_env(metadata)
