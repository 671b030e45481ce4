from herald.kit.migrations import run_env

run_env(None)  # hand-written migrations: partitioning, roles and triggers are beyond autogenerate
