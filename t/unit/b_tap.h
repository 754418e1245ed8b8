
/*
 * Copyright (C) objspace authors
 *
 * Minimal TAP output for the s3 / crypto / authz unit tests.
 */


#ifndef _B_TAP_H_INCLUDED_
#define _B_TAP_H_INCLUDED_


#include <stdio.h>
#include <stdarg.h>
#include <string.h>


static void tap_ok(int ok, const char *fmt, ...);
static int tap_done(void);


static int  tap_n;
static int  tap_failed;


static void
tap_ok(int ok, const char *fmt, ...)
{
    va_list  args;

    tap_n++;

    if (!ok) {
        tap_failed++;
    }

    printf("%sok %d - ", ok ? "" : "not ", tap_n);

    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);

    printf("\n");
}


static int
tap_done(void)
{
    printf("1..%d\n", tap_n);

    if (tap_failed) {
        printf("# failed %d of %d\n", tap_failed, tap_n);
    }

    return tap_failed ? 1 : 0;
}


#define tap_str(s)  (ngx_str_t) { sizeof(s) - 1, (u_char *) s }


#endif /* _B_TAP_H_INCLUDED_ */
