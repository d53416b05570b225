#!/bin/sh
cat "${GREETING_FILE:-/app/GREETING.txt}"
