/*
 * users: the SCRAM credentials of the broker's users (Kafka's user SCRAM credentials, managed
 * by AlterUserScramCredentials and `weir user`), kept in memory and in <data>/scram-credentials.
 *
 * What is stored per user and mechanism is what SCRAM's server needs: salt, iterations,
 * StoredKey and ServerKey (auth/auth.h); never a password nor a salted password. SASL PLAIN is
 * checked against the same credentials (auth_scram_cred_check_password).
 *
 * The file is text, one credential a line ("user TAB mechanism TAB iterations TAB salt TAB
 * StoredKey TAB ServerKey", base64), after a first line "weir-scram-credentials 1 <crc32c of
 * the lines that follow, hex>". Every change rewrites it whole: a temporary file, fdatasync,
 * rename over the old one, fsync of the directory, so a crash leaves the old set or the new
 * one. It is checked after it is built and when read back; a file that fails its check stops
 * the broker from starting rather than let it run with users missing.
 *
 * Invariant: users_mu guards the table; the file on disk always holds what the table held
 * after the last change that returned 0. Any thread may call; calls are short (a lookup) except
 * a change, which writes and syncs the small file under the lock.
 */
#include "broker/broker_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define USERS_FILE     "scram-credentials"
#define USERS_MAGIC    "weir-scram-credentials 1 "
#define USERS_MAX      100000
#define USERS_FILE_MAX (64u << 20)

typedef struct {
    char *name;
    bool has[AUTH_SCRAM__COUNT];
    auth_scram_cred_t cred[AUTH_SCRAM__COUNT];
} user_t;

struct broker_users {
    pthread_mutex_t mu;
    user_t *v;
    size_t n, cap;
    char *path;
    char *dir;
};

static user_t *users_find(struct broker_users *u, const char *name)
{
    for (size_t i = 0; i < u->n; i++)
        if (strcmp(u->v[i].name, name) == 0)
            return &u->v[i];
    return NULL;
}

bool broker_user_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > AUTH_USER_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return false;
    return true;
}

/* ---- the file ------------------------------------------------------------------------------ */

static void users_serialize(struct broker_users *u, buf_t *out)
{
    buf_t body = {0};
    for (size_t i = 0; i < u->n; i++) {
        for (int m = 0; m < AUTH_SCRAM__COUNT; m++) {
            if (!u->v[i].has[m])
                continue;
            const auth_scram_cred_t *c = &u->v[i].cred[m];
            size_t kl = auth_scram_key_len(c->mech);
            char salt[AUTH_SALT_MAX * 2], sk[AUTH_KEY_MAX * 2], svk[AUTH_KEY_MAX * 2];
            base64_encode(c->salt, c->salt_len, salt);
            base64_encode(c->stored_key, kl, sk);
            base64_encode(c->server_key, kl, svk);
            buf_printf(&body, "%s\t%s\t%d\t%s\t%s\t%s\n", u->v[i].name,
                       auth_scram_mech_name(c->mech), c->iterations, salt, sk, svk);
        }
    }
    broker_file_lines_head(out, USERS_MAGIC, &body);
    buf_deinit(&body);
}

static int users_add_line(struct broker_users *u, char *line)
{
    char *f[6];
    if (broker_file_fields(line, f, 6) != 6 || !broker_user_name_ok(f[0]))
        return -WEIR_ECORRUPT;
    int m = auth_scram_mech_parse(f[1]);
    char *end;
    long iter = strtol(f[2], &end, 10);
    if (m < 0 || *end || iter < AUTH_SCRAM_ITER_MIN || iter > AUTH_SCRAM_ITER_MAX)
        return -WEIR_ECORRUPT;
    auth_scram_cred_t c;
    memset(&c, 0, sizeof(c));
    c.mech = (auth_mech_t)m;
    c.iterations = (int32_t)iter;
    size_t kl = auth_scram_key_len(c.mech);
    int sl = base64_decode(f[3], strlen(f[3]), c.salt, sizeof(c.salt));
    int k1 = base64_decode(f[4], strlen(f[4]), c.stored_key, sizeof(c.stored_key));
    int k2 = base64_decode(f[5], strlen(f[5]), c.server_key, sizeof(c.server_key));
    if (sl <= 0 || k1 != (int)kl || k2 != (int)kl)
        return -WEIR_ECORRUPT;
    c.salt_len = (size_t)sl;
    user_t *usr = users_find(u, f[0]);
    if (!usr) {
        if (u->n >= USERS_MAX)
            return -WEIR_ECORRUPT;
        if (u->n == u->cap) {
            u->cap = u->cap ? u->cap * 2 : 8;
            u->v = weir_realloc(u->v, u->cap * sizeof(*u->v));
        }
        usr = &u->v[u->n++];
        memset(usr, 0, sizeof(*usr));
        usr->name = weir_strdup(f[0]);
    }
    usr->has[m] = true;
    usr->cred[m] = c;
    return 0;
}

static int users_line(void *arg, char *line)
{
    return users_add_line(arg, line);
}

/* Parses a whole file's bytes into u (which is empty). */
static int users_parse(struct broker_users *u, char *p, size_t len)
{
    return broker_file_lines_parse(p, len, USERS_MAGIC, users_line, u);
}

static int write_all_fd(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -WEIR_EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int broker_file_replace(const char *dir, const char *path, const uint8_t *p, size_t n)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = fd < 0 ? -WEIR_EIO : 0;
    if (rc == 0)
        rc = write_all_fd(fd, p, n);
    if (rc == 0 && fdatasync(fd) != 0)
        rc = -WEIR_EIO;
    if (fd >= 0)
        close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -WEIR_EIO;
    if (rc == 0) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) != 0)
            rc = -WEIR_EIO;
        if (dfd >= 0)
            close(dfd);
    }
    if (rc < 0)
        log_error("broker", "cannot write %s: %s", path, strerror(errno));
    return rc;
}

int broker_file_read(const char *path, size_t max_bytes, buf_t *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -WEIR_ENOENT : -WEIR_EIO;
    int rc = 0;
    for (;;) {
        uint8_t *p = buf_extend(out, 65536);
        ssize_t r = read(fd, p, 65536);
        if (r < 0 && errno == EINTR) {
            out->len -= 65536;
            continue;
        }
        out->len -= 65536 - (size_t)WEIR_MAX(r, 0);
        if (r <= 0) {
            rc = r < 0 ? -WEIR_EIO : 0;
            break;
        }
        if (out->len > max_bytes) {
            rc = -WEIR_ECORRUPT;
            break;
        }
    }
    close(fd);
    return rc;
}

int broker_file_fields(char *line, char **f, int max)
{
    int n = 0;
    for (char *p = line;;) {
        if (n == max)
            return max + 1;
        f[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab)
            return n;
        *tab = '\0';
        p = tab + 1;
    }
}

int broker_file_lines_parse(char *p, size_t len, const char *magic,
                            int (*line_fn)(void *arg, char *line), void *arg)
{
    size_t ml = strlen(magic);
    char *nl = memchr(p, '\n', len);
    if (len < ml + 9 || memcmp(p, magic, ml) != 0 || !nl || nl != p + ml + 8)
        return -WEIR_ECORRUPT;
    char *end;
    unsigned long want = strtoul(p + ml, &end, 16);
    char *body = nl + 1;
    size_t body_len = len - (size_t)(body - p);
    if (end != nl || crc32c(0, body, body_len) != (uint32_t)want)
        return -WEIR_ECORRUPT;
    while (body_len > 0) {
        char *e = memchr(body, '\n', body_len);
        if (!e || memchr(body, '\0', (size_t)(e - body)))
            return -WEIR_ECORRUPT;
        *e = '\0';
        int rc = line_fn(arg, body);
        if (rc < 0)
            return rc;
        body_len -= (size_t)(e - body) + 1;
        body = e + 1;
    }
    return 0;
}

void broker_file_lines_head(buf_t *out, const char *magic, const buf_t *body)
{
    buf_printf(out, "%s%08x\n", magic, crc32c(0, body->data, body->len));
    buf_append(out, body->data, body->len);
}

/* Rewrites the file from the table: checked, then replaced durably (broker_file_replace). */
static int users_persist(struct broker_users *u)
{
    buf_t b = {0};
    users_serialize(u, &b);
    /* Check before writing: what goes to disk parses back to the same table. */
    struct broker_users probe = {0};
    buf_t copy = {0};
    buf_append(&copy, b.data, b.len);
    int rc = users_parse(&probe, (char *)copy.data, copy.len);
    WEIR_ASSERT(rc == 0 && probe.n == u->n);
    for (size_t i = 0; i < probe.n; i++)
        free(probe.v[i].name);
    free(probe.v);
    buf_deinit(&copy);
    rc = broker_file_replace(u->dir, u->path, b.data, b.len);
    buf_deinit(&b);
    return rc;
}

int broker_users_open(broker_t *b)
{
    struct broker_users *u = weir_calloc(1, sizeof(*u));
    pthread_mutex_init(&u->mu, NULL);
    u->dir = weir_strdup(b->data_dir);
    buf_t path = {0};
    buf_printf(&path, "%s/%s", b->data_dir, USERS_FILE);
    buf_append_u8(&path, 0);
    u->path = (char *)path.data;
    b->users = u;
    buf_t data = {0};
    int rc = broker_file_read(u->path, USERS_FILE_MAX, &data);
    if (rc == -WEIR_ENOENT) {
        buf_deinit(&data);
        return 0;
    }
    if (rc == 0)
        rc = users_parse(u, (char *)data.data, data.len);
    buf_deinit(&data);
    if (rc < 0)
        log_error("broker",
                  "%s fails its check (%s): refusing to start without the users it "
                  "should hold",
                  u->path, weir_strerror(rc));
    else if (u->n)
        log_info("broker", "%zu SCRAM user(s) loaded", u->n);
    return rc;
}

void broker_users_free(broker_t *b)
{
    struct broker_users *u = b->users;
    if (!u)
        return;
    for (size_t i = 0; i < u->n; i++) {
        free(u->v[i].name);
        OPENSSL_cleanse(u->v[i].cred, sizeof(u->v[i].cred));
    }
    free(u->v);
    free(u->path);
    free(u->dir);
    pthread_mutex_destroy(&u->mu);
    free(u);
    b->users = NULL;
}

/* ---- the API ------------------------------------------------------------------------------- */

int broker_user_scram_get(broker_t *b, const char *user, auth_mech_t m, auth_scram_cred_t *out)
{
    struct broker_users *u = b->users;
    pthread_mutex_lock(&u->mu);
    user_t *usr = users_find(u, user);
    int rc = usr && usr->has[m] ? 0 : -WEIR_ENOENT;
    if (rc == 0)
        *out = usr->cred[m];
    pthread_mutex_unlock(&u->mu);
    return rc;
}

int broker_user_check_password(broker_t *b, const char *user, const char *password,
                               size_t password_len)
{
    auth_scram_cred_t creds[AUTH_SCRAM__COUNT];
    bool has[AUTH_SCRAM__COUNT] = {false};
    struct broker_users *u = b->users;
    pthread_mutex_lock(&u->mu);
    user_t *usr = users_find(u, user);
    if (usr)
        for (int m = 0; m < AUTH_SCRAM__COUNT; m++)
            if ((has[m] = usr->has[m]))
                creds[m] = usr->cred[m];
    pthread_mutex_unlock(&u->mu);
    if (!usr)
        return -WEIR_ENOENT;
    /* PBKDF2 outside the lock: it takes milliseconds by design. */
    for (int m = 0; m < AUTH_SCRAM__COUNT; m++)
        if (has[m] && auth_scram_cred_check_password(&creds[m], password, password_len))
            return 0;
    return -WEIR_EINVAL;
}

int broker_user_scram_set(broker_t *b, const char *user, const auth_scram_cred_t *cred)
{
    if (!broker_user_name_ok(user))
        return -WEIR_EINVAL;
    struct broker_users *u = b->users;
    pthread_mutex_lock(&u->mu);
    user_t *usr = users_find(u, user);
    int rc = 0;
    user_t saved;
    bool created = false;
    if (!usr) {
        if (u->n >= USERS_MAX) {
            rc = -WEIR_ETOOBIG;
            goto out_unlock;
        }
        if (u->n == u->cap) {
            u->cap = u->cap ? u->cap * 2 : 8;
            u->v = weir_realloc(u->v, u->cap * sizeof(*u->v));
        }
        usr = &u->v[u->n++];
        memset(usr, 0, sizeof(*usr));
        usr->name = weir_strdup(user);
        created = true;
    }
    saved = *usr;
    usr->has[cred->mech] = true;
    usr->cred[cred->mech] = *cred;
    rc = users_persist(u);
    if (rc < 0) { /* the table keeps matching the file */
        if (created) {
            free(usr->name);
            u->n--;
        } else {
            *usr = saved;
        }
    }
out_unlock:
    pthread_mutex_unlock(&u->mu);
    return rc;
}

int broker_user_scram_delete(broker_t *b, const char *user, auth_mech_t m)
{
    struct broker_users *u = b->users;
    pthread_mutex_lock(&u->mu);
    user_t *usr = users_find(u, user);
    int rc = usr && usr->has[m] ? 0 : -WEIR_ENOENT;
    if (rc == 0) {
        user_t saved = *usr;
        usr->has[m] = false;
        bool empty = true;
        for (int k = 0; k < AUTH_SCRAM__COUNT; k++)
            empty = empty && !usr->has[k];
        size_t idx = (size_t)(usr - u->v);
        if (empty) /* the user goes with its last credential */
            u->v[idx] = u->v[--u->n];
        rc = users_persist(u);
        if (rc < 0) {
            if (empty) {
                u->v[u->n++] = u->v[idx];
                u->v[idx] = saved;
            } else {
                *usr = saved;
            }
        } else if (empty) {
            free(saved.name);
        }
    }
    pthread_mutex_unlock(&u->mu);
    return rc;
}

size_t broker_users_list(broker_t *b, broker_user_info_t **out)
{
    struct broker_users *u = b->users;
    pthread_mutex_lock(&u->mu);
    broker_user_info_t *v = weir_calloc(u->n ? u->n : 1, sizeof(*v));
    for (size_t i = 0; i < u->n; i++) {
        v[i].name = weir_strdup(u->v[i].name);
        for (int m = 0; m < AUTH_SCRAM__COUNT; m++)
            v[i].iterations[m] = u->v[i].has[m] ? u->v[i].cred[m].iterations : 0;
    }
    size_t n = u->n;
    pthread_mutex_unlock(&u->mu);
    *out = v;
    return n;
}

void broker_users_list_free(broker_user_info_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
}
