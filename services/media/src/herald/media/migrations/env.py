from herald.kit.migrations import run_env
from herald.media.models import metadata

run_env(metadata)
