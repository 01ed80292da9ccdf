# sdq_isa.m4 - configure checks for per-ISA compiler flags.
#
# SDQ_CHECK_ISA_FLAGS(NAME, FLAGS, INCLUDES, BODY)
# Compiles BODY (which must really use the ISA's intrinsics) with FLAGS added
# to CFLAGS. On success it substitutes NAME_CFLAGS=FLAGS and sets the
# automake conditional HAVE_NAME; it never runs the program, so the result
# says what the compiler can build, not what the build machine can execute.
AC_DEFUN([SDQ_CHECK_ISA_FLAGS], [
  AC_MSG_CHECKING([whether $CC accepts $2 for $1 intrinsics])
  sdq_saved_cflags="$CFLAGS"
  CFLAGS="$CFLAGS $2"
  AC_COMPILE_IFELSE([AC_LANG_PROGRAM([$3], [$4])],
    [sdq_isa_ok=yes], [sdq_isa_ok=no])
  CFLAGS="$sdq_saved_cflags"
  AC_MSG_RESULT([$sdq_isa_ok])
  AS_IF([test "x$sdq_isa_ok" = xyes],
    [$1_CFLAGS="$2"
     AC_DEFINE([HAVE_$1], [1], [Define to 1 if the $1 kernel variant is built.])],
    [$1_CFLAGS=""])
  AC_SUBST([$1_CFLAGS])
  AM_CONDITIONAL([HAVE_$1], [test "x$sdq_isa_ok" = xyes])
])
