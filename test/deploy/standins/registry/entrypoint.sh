#!/bin/sh
# As the official image's entrypoint: a config file path means `registry serve <file>`.
set -e
case "$1" in
  *.yaml|*.yml) set -- registry serve "$@" ;;
  serve|garbage-collect|help|-*) set -- registry "$@" ;;
esac
exec "$@"
