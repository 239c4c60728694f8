"""stp: the Serverless Trading Platform command line and its Docker-free local runtime."""
