"""The x publisher: the shared pipeline (herald.publishing) with the x adapter."""

from herald.contracts.platform import Platform
from herald.publishing.app import main

main(Platform.X)
