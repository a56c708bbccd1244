#!/usr/bin/env node
// The service's `snowflake` command is the client package's CLI: one implementation, installed with either.
import '@snowflake-id/client/cli';
