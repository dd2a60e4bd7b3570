"""Where stages are computed: the Python reference runtime, the user's Python code, the browser
page (driver, loopback server, pulled stages). Imports ops and below; never compares."""
