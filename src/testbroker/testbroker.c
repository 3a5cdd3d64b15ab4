/*
 * Test support: a whole Weir broker inside the test process, on 127.0.0.1 with a free port and a
 * fresh temporary data directory, so a service's tests need nothing running outside. Kept in its
 * own file so that only programs calling it link the broker in from libweir.a.
 */
#include "base/base.h"
#include "weir/weir.h"
#include "weir/embed.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct weir_test_broker {
    weir_broker *broker;
    char dir[64];
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : 0; /* best effort: keep going */
}

static void rm_tree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int weir_test_broker_start(const char *const *settings, weir_test_broker **out)
{
    *out = NULL;
    weir_test_broker *tb = weir_calloc(1, sizeof(*tb));
    const char *tmp = getenv("TMPDIR");
    snprintf(tb->dir, sizeof(tb->dir), "%s/weir-test-XXXXXX",
             tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(tb->dir)) {
        free(tb);
        return -WEIR_EIO;
    }
    weir_broker_config cfg;
    weir_broker_config_init(&cfg);
    cfg.data_dir = tb->dir;
    cfg.listen = "127.0.0.1:0";
    cfg.http_listen = NULL;
    cfg.settings = settings;
    cfg.io_threads = 1;
    int r = weir_broker_start(&cfg, &tb->broker);
    if (r) {
        rm_tree(tb->dir);
        free(tb);
        return r < 0 ? r : -r;
    }
    *out = tb;
    return 0;
}

const char *weir_test_broker_bootstrap(const weir_test_broker *tb)
{
    return weir_broker_bootstrap(tb->broker);
}

void weir_test_broker_stop(weir_test_broker *tb)
{
    if (!tb)
        return;
    weir_broker_stop(tb->broker);
    rm_tree(tb->dir);
    free(tb);
}
