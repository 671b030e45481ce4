from herald.kit.migrations import run_env

run_env(None)
