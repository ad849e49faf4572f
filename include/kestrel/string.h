/* The few libc string functions Kestrel uses (arch/string.c; the host tests use libc's). */
#ifndef KESTREL_STRING_H
#define KESTREL_STRING_H

#include <kestrel/types.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n); /* the guest runtime's */

#endif
