
/*
 * objspace-provisioner: common definitions (errors, logging, buffers).
 */

#ifndef PROV_CORE_H
#define PROV_CORE_H


#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>


#define PROV_OK            0
#define PROV_ERR          -1

/* prov_err_t.code: what kind of failure; main.c maps it to an exit status */
#define PROV_E_NONE        0
#define PROV_E_INVAL       1    /* bad input from the operator */
#define PROV_E_NOTFOUND    2    /* named space or key does not exist */
#define PROV_E_EXISTS      3    /* would create a duplicate */
#define PROV_E_CONFIG      4    /* configuration or key file */
#define PROV_E_REDIS       5    /* Redis unreachable or error reply */
#define PROV_E_STORAGE     6    /* storage admin API failed */
#define PROV_E_CRYPTO      7    /* OpenSSL failure or tampered sealed value */
#define PROV_E_SYS         8    /* out of memory, I/O */
#define PROV_E_STATE       9    /* operation not allowed in this state */
#define PROV_E_BUSY       10    /* another provisioner holds the lock/lease */
#define PROV_E_SOURCE     11    /* RustShare unreachable, refused, malformed */


typedef struct {
    int         code;
    char        msg[512];
} prov_err_t;


/*
 * A leader's check before a blocking call that may last need_ms (the
 * daemon's lease, prov_daemon.c): renews the lease when due; 1: the call
 * may start, 0: not the leader, or too little of the lease left for it.
 */
typedef int (*prov_guard_pt)(void *data, long need_ms);


#define PROV_LOG_ERR       0
#define PROV_LOG_WARN      1
#define PROV_LOG_INFO      2
#define PROV_LOG_DEBUG     3


/* a growable byte buffer, always NUL terminated */
typedef struct {
    char       *data;
    size_t      len;
    size_t      cap;
} prov_buf_t;


void prov_err_set(prov_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void prov_err_prefix(prov_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

extern int  prov_log_level;
void prov_log(int level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void prov_buf_init(prov_buf_t *b);
int prov_buf_append(prov_buf_t *b, const void *data, size_t len);
int prov_buf_puts(prov_buf_t *b, const char *s);
int prov_buf_printf(prov_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void prov_buf_reset(prov_buf_t *b);
void prov_buf_free(prov_buf_t *b);
/* like prov_buf_free, but wipes the bytes first (secrets) */
void prov_buf_wipe(prov_buf_t *b);

void prov_memzero(void *p, size_t n);
char *prov_strdup(const char *s);
int64_t prov_now(void);

/* "10G", "512M", "1TiB", "0" -> bytes (powers of 1024) */
int prov_parse_size(const char *s, int64_t *out, prov_err_t *err);
/* "30d", "12h", "10m", "90s", "2w" -> seconds */
int prov_parse_duration(const char *s, int64_t *out, prov_err_t *err);
/* "10737418240" -> "10G"; buf at least 32 bytes */
void prov_format_size(int64_t bytes, char *buf, size_t size);
/* an amount of data for people: "0 B", "1023 B", "256.5 KiB", "1.0 GiB" */
void prov_format_bytes(int64_t bytes, char *buf, size_t size);
/* ISO 8601 UTC; buf at least 21 bytes */
void prov_format_time(int64_t t, char *buf, size_t size);

/* [a-z0-9-], 1..max chars, not starting or ending with '-' */
int prov_valid_slug(const char *s, size_t max);


#endif /* PROV_CORE_H */
