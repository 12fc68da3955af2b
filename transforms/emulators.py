"""Local emulator support (tests, laptops).

With `STORAGE_EMULATOR_HOST` set, Beam's GCS client would still look for
Google credentials first (google.auth.default with retries: ~25 s per
process, then anonymous). An emulator needs no credentials, so Beam's
credential cache is primed with "anonymous" instead. Called where a job
starts (pipeline.run) and in the `setup` of the job's DoFns that touch file
systems, so worker processes get it too -- never as an import side effect.
"""
import os


def use_anonymous_gcs_for_emulator() -> bool:
  if not os.environ.get('STORAGE_EMULATOR_HOST'):
    return False
  try:
    from apache_beam.internal.gcp import auth
  except ImportError:
    return False
  # pylint: disable=protected-access
  with auth._Credentials._credentials_lock:
    auth._Credentials._credentials = None
    auth._Credentials._credentials_init = True
  return True
