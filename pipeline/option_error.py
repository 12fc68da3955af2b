"""The one exception start-up checks raise: a bad option, and the flag to
blame (the CLI prints `error: <flag>: <message>` and exits 2)."""


class OptionError(ValueError):
  """A bad option value; `option` is the flag to blame."""

  def __init__(self, option: str, message: str):
    super().__init__(f'{option}: {message}')
    self.option = option
