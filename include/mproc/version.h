/* mproc/version.h: the library's version, the export macro and the few
 * definitions every other public header needs. The build reads the version
 * from the three MP_VERSION_* lines below; keep them one per line. */
#ifndef MPROC_VERSION_H
#define MPROC_VERSION_H

#define MP_VERSION_MAJOR 0
#define MP_VERSION_MINOR 1
#define MP_VERSION_PATCH 0

#define MP__STR2(x) #x
#define MP__STR(x) MP__STR2(x)
#define MP_VERSION_STRING                                                      \
  MP__STR(MP_VERSION_MAJOR) "." MP__STR(MP_VERSION_MINOR) "." MP__STR(MP_VERSION_PATCH)
#define MP_VERSION_HEX                                                         \
  ((MP_VERSION_MAJOR << 16) | (MP_VERSION_MINOR << 8) | MP_VERSION_PATCH)

/* Every public symbol carries MP_EXPORT; the build hides all others. */
#if defined(MP_BUILDING) && defined(__GNUC__)
#define MP_EXPORT __attribute__((visibility("default")))
#else
#define MP_EXPORT
#endif

#ifdef __cplusplus
#define MP_EXTERN_C_BEGIN extern "C" {
#define MP_EXTERN_C_END }
#else
#define MP_EXTERN_C_BEGIN
#define MP_EXTERN_C_END
#endif

MP_EXTERN_C_BEGIN

/* The version of the library actually linked, as MP_VERSION_HEX computes it;
 * compare with MP_VERSION_HEX to detect a header/library mismatch. */
MP_EXPORT unsigned mp_version(void);
/* The same, as "major.minor.patch"; a static string, never freed. */
MP_EXPORT const char *mp_version_string(void);

MP_EXTERN_C_END

#endif
