/*
 * server: the composition root (server.c). Its interface to programs is the embedding API in
 * include/weir/embed.h; this header adds only what white-box tests of the broker core need to
 * reach the broker inside a running server. No module includes it.
 */
#ifndef WEIR_SERVER_H
#define WEIR_SERVER_H

#include "broker/broker.h"
#include "weir/embed.h"

/* The broker core of a started server (valid until weir_broker_stop). */
broker_t *server_broker(weir_broker *s);

#endif
