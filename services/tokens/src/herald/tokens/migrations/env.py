from herald.kit.migrations import run_env
from herald.tokens.models import metadata

run_env(metadata)
