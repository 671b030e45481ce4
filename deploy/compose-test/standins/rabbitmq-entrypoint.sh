#!/bin/sh
# The official image's environment, for Debian's rabbitmq-server: a default user from RABBITMQ_DEFAULT_USER/PASS
# that may log in from other containers, then the server in the foreground as the rabbitmq user.
set -eu
cat >/etc/rabbitmq/rabbitmq.conf <<CONF
default_user = ${RABBITMQ_DEFAULT_USER:-guest}
default_pass = ${RABBITMQ_DEFAULT_PASS:-guest}
loopback_users = none
listeners.tcp.default = 5672
management.tcp.port = 15672
prometheus.tcp.port = 15692
CONF
chown -R rabbitmq:rabbitmq /var/lib/rabbitmq
exec /usr/sbin/rabbitmq-server
