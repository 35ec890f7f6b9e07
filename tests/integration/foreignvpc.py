"""The foreign VPC builder moved to ``lab.foreignvpc`` (the lab builds one for its cutover drill); the
integration tests keep importing it from here."""
from lab.foreignvpc import (  # noqa: F401 - re-exported for the integration tests
    MODULE_TAGS,
    PEER_CIDR,
    VPC_CIDR,
    ForeignVpc,
    ForeignZone,
    adopt_config,
    build_foreign_vpc,
    default_targets,
    routes_of,
)
