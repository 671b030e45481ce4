"""The meta publisher: the shared pipeline (herald.publishing) with the meta adapter."""

from herald.contracts.platform import Platform
from herald.publishing.app import main

main(Platform.META)
