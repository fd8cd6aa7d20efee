//  npy2corpus - troupe-npy2corpus: convert a .npy float32 2-D C-order matrix
//  into an agent corpus file (docs/agent.md)
//
//  troupe-npy2corpus INPUT.npy OUTPUT
//  Exit status: 0 done, 1 the input is not a float32 2-D C-order .npy (or is
//  cut short), 2 usage, 3 an I/O error. Writes OUTPUT.tmp, then renames it.
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "troupe_agent.h"

#define S_EXIT_BAD_INPUT 1
#define S_EXIT_USAGE     2
#define S_EXIT_IO        3

static const char *s_input;

static int
s_reject (const char *why)
{
    fprintf (stderr, "troupe-npy2corpus: %s: %s\n", s_input, why);
    return S_EXIT_BAD_INPUT;
}

//  The text after 'key': in the header dict, spaces skipped; NULL if absent.
static const char *
s_value (const char *dict, const char *key)
{
    char quoted[32];
    snprintf (quoted, sizeof quoted, "'%s'", key);
    const char *at = strstr (dict, quoted);
    if (!at)
        return NULL;
    at += strlen (quoted);
    while (*at == ' ')
        at++;
    if (*at != ':')
        return NULL;
    at++;
    while (*at == ' ')
        at++;
    return at;
}

//  A decimal number at *at (advanced past it). false if none or too large.
static bool
s_number (const char **at, uint64_t *value)
{
    const char *p = *at;
    uint64_t n = 0;
    if (*p < '0' || *p > '9')
        return false;
    while (*p >= '0' && *p <= '9') {
        if (n > (UINT64_MAX - 9) / 10)
            return false;
        n = n * 10 + (uint64_t) (*p++ - '0');
    }
    *at = p;
    *value = n;
    return true;
}

//  Parse the header dict: descr '<f4', fortran_order False, shape (rows, dim).
static int
s_parse_dict (const char *dict, uint64_t *rows, uint64_t *dim)
{
    const char *descr = s_value (dict, "descr");
    if (!descr)
        return s_reject ("no 'descr' in the header");
    if (strncmp (descr, "'<f4'", 5) != 0)
        return s_reject ("dtype is not little-endian float32 ('<f4')");
    const char *order = s_value (dict, "fortran_order");
    if (!order)
        return s_reject ("no 'fortran_order' in the header");
    if (strncmp (order, "False", 5) != 0)
        return s_reject ("Fortran order: save the matrix in C order (np.ascontiguousarray)");
    const char *shape = s_value (dict, "shape");
    if (!shape || *shape != '(')
        return s_reject ("no 'shape' tuple in the header");
    shape++;
    uint64_t sizes[3];
    int count = 0;
    while (true) {
        while (*shape == ' ')
            shape++;
        if (*shape == ')')
            break;
        if (count == 3 || !s_number (&shape, &sizes[count]))
            return s_reject ("a bad 'shape'");
        count++;
        while (*shape == ' ')
            shape++;
        if (*shape == ',')
            shape++;
        else if (*shape != ')')
            return s_reject ("a bad 'shape'");
    }
    if (count != 2)
        return s_reject ("not a 2-D matrix");
    if (sizes[0] == 0 || sizes[1] == 0)
        return s_reject ("an empty matrix");
    if (sizes[0] > UINT32_MAX || sizes[1] > 65536)
        return s_reject ("too large: at most 2^32 - 1 rows of at most 65536 columns");
    *rows = sizes[0];
    *dim = sizes[1];
    return 0;
}

static int
s_convert (FILE *in, FILE *out, const char *output_tmp)
{
    unsigned char preamble[10];
    if (fread (preamble, 1, 8, in) != 8 || memcmp (preamble, "\x93NUMPY", 6) != 0)
        return s_reject ("not a .npy file (no \\x93NUMPY magic)");
    unsigned major = preamble[6];
    size_t header_len = 0, prefix = 0;
    if (major == 1) {
        if (fread (preamble + 8, 1, 2, in) != 2)
            return s_reject ("cut short in its header");
        header_len = (size_t) preamble[8] | (size_t) preamble[9] << 8;
        prefix = 10;
    }
    else if (major == 2 || major == 3) {
        unsigned char length[4];
        if (fread (length, 1, 4, in) != 4)
            return s_reject ("cut short in its header");
        header_len = (size_t) length[0] | (size_t) length[1] << 8 | (size_t) length[2] << 16
                     | (size_t) length[3] << 24;
        prefix = 12;
    }
    else
        return s_reject ("unknown .npy version");
    if (header_len == 0 || header_len > (1u << 20))
        return s_reject ("a header length out of range");
    char *dict = calloc (1, header_len + 1);
    if (!dict)
        abort ();
    if (fread (dict, 1, header_len, in) != header_len) {
        free (dict);
        return s_reject ("cut short in its header");
    }
    uint64_t rows = 0, dim = 0;
    int rc = s_parse_dict (dict, &rows, &dim);
    free (dict);
    if (rc != 0)
        return rc;
    struct stat info;
    uint64_t data_bytes = rows * dim * sizeof (float);
    if (fstat (fileno (in), &info) != 0)
        return s_reject (strerror (errno));
    if ((uint64_t) info.st_size != prefix + header_len + data_bytes)
        return s_reject ("its size does not match its shape (cut short, or trailing bytes)");

    tr_agent_corpus_header_t header = {.version = TR_AGENT_CORPUS_VERSION,
                                       .dtype = TR_AGENT_DTYPE_F32,
                                       .rows = rows,
                                       .dim = (uint32_t) dim,
                                       .header_size = 64};
    memcpy (header.magic, TR_AGENT_CORPUS_MAGIC, 8);
    if (fwrite (&header, sizeof header, 1, out) != 1)
        goto io_error;
    static char buffer[1 << 20];
    uint64_t left = data_bytes;
    while (left) {
        size_t chunk = left > sizeof buffer ? sizeof buffer : (size_t) left;
        if (fread (buffer, 1, chunk, in) != chunk)
            return s_reject ("cut short in its data");
        if (fwrite (buffer, 1, chunk, out) != chunk)
            goto io_error;
        left -= chunk;
    }
    return 0;
io_error:
    fprintf (stderr, "troupe-npy2corpus: %s: %s\n", output_tmp, strerror (errno));
    return S_EXIT_IO;
}

int
main (int argc, char *argv[])
{
    if (argc != 3 || argv[1][0] == '-') {
        fprintf (stderr, "usage: troupe-npy2corpus INPUT.npy OUTPUT\n"
                         "  converts a float32 2-D C-order .npy matrix into an agent corpus\n");
        return S_EXIT_USAGE;
    }
    s_input = argv[1];
    FILE *in = fopen (argv[1], "rb");
    if (!in) {
        fprintf (stderr, "troupe-npy2corpus: %s: %s\n", argv[1], strerror (errno));
        return S_EXIT_IO;
    }
    char output_tmp[4096];
    if (snprintf (output_tmp, sizeof output_tmp, "%s.tmp", argv[2]) >= (int) sizeof output_tmp) {
        fclose (in);
        fprintf (stderr, "troupe-npy2corpus: output path too long\n");
        return S_EXIT_USAGE;
    }
    FILE *out = fopen (output_tmp, "wb");
    if (!out) {
        fprintf (stderr, "troupe-npy2corpus: %s: %s\n", output_tmp, strerror (errno));
        fclose (in);
        return S_EXIT_IO;
    }
    int rc = s_convert (in, out, output_tmp);
    fclose (in);
    if (fclose (out) != 0 && rc == 0) {
        fprintf (stderr, "troupe-npy2corpus: %s: %s\n", output_tmp, strerror (errno));
        rc = S_EXIT_IO;
    }
    if (rc == 0 && rename (output_tmp, argv[2]) != 0) {
        fprintf (stderr, "troupe-npy2corpus: %s: %s\n", argv[2], strerror (errno));
        rc = S_EXIT_IO;
    }
    if (rc != 0)
        remove (output_tmp);
    return rc;
}
