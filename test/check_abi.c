/* SPDX-License-Identifier: MIT */
/*
 * check_abi.c: what a program built against one version of the header can
 * rely on from the library it runs against: the compile-time version
 * macros agree with ldb_version(). Linked against the shared library, as
 * programs are, not against the internal convenience library.
 */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#if LDB_VERSION_NUMBER < 1000
#error "LDB_VERSION_NUMBER must be usable in #if and at least 0.1.0"
#endif

START_TEST(version_macros_match_the_library)
{
    char want[64];

    snprintf(want, sizeof want, "%d.%d.%d", LDB_VERSION_MAJOR, LDB_VERSION_MINOR,
             LDB_VERSION_PATCH);
    ck_assert_str_eq(ldb_version(), want);
    ck_assert_str_eq(LDB_VERSION_STRING, want);
    ck_assert_int_eq(LDB_VERSION_NUMBER,
                     LDB_VERSION_MAJOR * 1000000 + LDB_VERSION_MINOR * 1000 + LDB_VERSION_PATCH);
    ck_assert_int_ge(LDB_VERSION_MINOR, 0);
    ck_assert_int_lt(LDB_VERSION_MINOR, 1000);
    ck_assert_int_lt(LDB_VERSION_PATCH, 1000);
    /* The error code of the same stem keeps its meaning. */
    ck_assert_int_eq(LDB_VERSION, -30009);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("abi");
    TCase *tc = tcase_create("version");
    tcase_add_test(tc, version_macros_match_the_library);
    suite_add_tcase(s, tc);
    return tu_run_suites(&s, 1);
}
