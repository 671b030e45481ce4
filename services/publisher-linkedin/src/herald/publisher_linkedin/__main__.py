"""The linkedin publisher: the shared pipeline (herald.publishing) with the linkedin adapter."""

from herald.contracts.platform import Platform
from herald.publishing.app import main

main(Platform.LINKEDIN)
