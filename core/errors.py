"""The one exception type that user-facing commands turn into a clean one-line error."""


class DepthshotError(Exception):
    """An expected failure caused by the user's input or environment (bad file, missing weights, ...).

    Command-line entry points print ``error: <message>`` on one line and exit with status 2;
    anything else is a bug and keeps its traceback. ``resumable``: the job's state is kept and the same command
    continues once the cause is gone (a full disk); otherwise a job that fails for good removes what it created.
    """

    resumable: bool = False
