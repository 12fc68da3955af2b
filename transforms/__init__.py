"""Beam transforms of the job: read, prepare, merge, write."""
from transforms.emulators import use_anonymous_gcs_for_emulator

use_anonymous_gcs_for_emulator()
