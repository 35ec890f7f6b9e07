"""The stack reconciler behind ``hanat plan | up | down``: observe by tag, plan (pure), apply, destroy."""
from .api import (  # noqa: F401
    DownResult,
    PlanResult,
    StackClients,
    UpResult,
    build_stack,
    destroy_stack,
    plan_stack,
    read_topology,
)
