"""The phone's screens, one a file, each styled by the .tcss file beside it."""
