//  zpl - reads a ZPL file (rfc.zeromq.org/spec:4) into a czmq zconfig tree
//  and keeps the line of every item, which zconfig does not
//
//  zconfig_chunk_load reports a syntax error only by printing it (on
//  stdout) and returning NULL, and keeps no line numbers. So the text is
//  first scanned here with zconfig's own rules (src/zconfig.c in czmq 4.2:
//  4 spaces per level, names of [A-Za-z0-9$-_@.&+/], '=' then a quoted or
//  bare value, '#' comments): a bad line is reported with its number and
//  zconfig only ever sees text it accepts. Each item the scan found is then
//  matched, in file order, with the item zconfig built; a mismatch would be
//  a difference between the two readers and is reported, not guessed at.
#include "zpl.h"
#include "troupe.h"

#include <assert.h>
#include <czmq.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  One item as the scan saw it.
typedef struct {
    int line;
    int level;  //  0 for the file's top-level items
    const char *name;
    size_t name_size;
} s_item_t;

//  An item of the tree and its line, sorted by address for lookups.
typedef struct {
    uintptr_t item;
    int line;
} s_line_t;

struct tr__zpl {
    zconfig_t *root;
    s_line_t *lines;
    size_t line_count;
};

//  zconfig's isspace and isalnum, in the C locale whatever the program's.
static bool
s_is_space (char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static bool
s_is_namechar (char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '$'
           || c == '-' || c == '_' || c == '@' || c == '.' || c == '&' || c == '+' || c == '/';
}

static int
s_fail (char *why, size_t why_size, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (why, why_size, format, args);
    va_end (args);
    return TR_EINVAL;
}

//  What is left at p may only be spaces and a comment (zconfig's
//  s_verify_eoln). after names what came before, for the message.
static int
s_rest_of_line (const char *p, const char *after, char *why, size_t why_size)
{
    while (*p && s_is_space (*p))
        p++;
    if (*p == '\0' || *p == '#')
        return 0;
    return s_fail (why, why_size, "unexpected text %s: '%.40s'", after, p);
}

//  Check one line (trimmed, NUL-terminated) and say whether it holds an
//  item: 0 and *item filled (name_size 0 when the line holds none), or
//  TR_EINVAL. chain is how deep the next item may go (zconfig_at_depth).
static int
s_scan_line (const char *line, int chain, s_item_t *item, char *why, size_t why_size)
{
    const char *p = line;
    while (*p == ' ')
        p++;
    size_t indent = (size_t) (p - line);
    if (indent % 4)
        return s_fail (why, why_size, "indented by %zu spaces: indent by 4 spaces per level",
                       indent);
    item->level = (int) (indent / 4);
    item->name = p;
    while (s_is_namechar (*p))
        p++;
    item->name_size = (size_t) (p - item->name);
    if (item->name_size == 0) {
        if (*p == '\t')
            return s_fail (why, why_size, "a tab: indent by 4 spaces per level");
        if (*p && *p != '#' && !s_is_space (*p))
            return s_fail (why, why_size,
                           "'%c' cannot start a key (keys use letters, digits and $-_@.&+/)", *p);
        return s_rest_of_line (p, "where a key was expected", why, why_size);
    }
    if (item->name[0] == '/' || item->name[item->name_size - 1] == '/')
        return s_fail (why, why_size, "a key cannot start or end with '/'");

    //  The value: nothing, '= "quoted"', '= \'quoted\'' or '= bare text'.
    while (*p && s_is_space (*p))
        p++;
    if (*p == '=') {
        p++;
        while (*p && s_is_space (*p))
            p++;
        if (*p == '"' || *p == '\'') {
            const char *end = strchr (p + 1, *p);
            if (!end)
                return s_fail (why, why_size, "missing closing %c", *p);
            int rc = s_rest_of_line (end + 1, "after the quoted value", why, why_size);
            if (rc)
                return rc;
        }
        //  A bare value runs to the end of the line or to a '#'.
    }
    else {
        char after[96];
        snprintf (after, sizeof after, "after key '%.*s' (expected '=' or the end of the line)",
                  (int) (item->name_size > 40 ? 40 : item->name_size), item->name);
        int rc = s_rest_of_line (p, after, why, why_size);
        if (rc)
            return rc;
    }
    if (item->level > chain && chain == 0)
        return s_fail (why, why_size, "the first key of the file cannot be indented");
    if (item->level > chain)
        return s_fail (why, why_size,
                       "indented too deep: %d spaces under a key indented %d (4 more at most)",
                       item->level * 4, (chain - 1) * 4);
    return 0;
}

//  Scan every line; on success *items holds the items in file order, their
//  names pointing into text.
static int
s_scan (const char *text, size_t size, s_item_t **items_p, size_t *count_p, int *line_p, char *why,
        size_t why_size)
{
    s_item_t *items = NULL;
    size_t count = 0, capacity = 0;
    int lineno = 0, chain = 0, rc = 0;
    size_t offset = 0;
    char buffer[TR__ZPL_MAX_LINE + 1];
    //  As zconfig_chunk_load: lines end at '\n'; a last line without one counts.
    while (offset < size) {
        const char *start = text + offset;
        const char *eoln = memchr (start, '\n', size - offset);
        size_t length = eoln ? (size_t) (eoln - start) : size - offset;
        offset += length + (eoln ? 1 : 0);
        lineno++;
        if (memchr (start, '\0', length)) {
            rc = s_fail (why, why_size, "a NUL byte: not a text file");
            break;
        }
        if (length > TR__ZPL_MAX_LINE) {
            rc = s_fail (why, why_size, "line longer than %d bytes", TR__ZPL_MAX_LINE);
            break;
        }
        memcpy (buffer, start, length);
        while (length && s_is_space (buffer[length - 1]))
            length--;
        buffer[length] = '\0';
        s_item_t item;
        rc = s_scan_line (buffer, chain, &item, why, why_size);
        if (rc)
            break;
        if (item.name_size == 0)
            continue;  //  blank or comment
        chain = item.level + 1;
        item.line = lineno;
        item.name = start + (item.name - buffer);
        if (count == capacity) {
            capacity = capacity ? capacity * 2 : 64;
            items = tr__realloc (items, capacity * sizeof *items);
        }
        items[count++] = item;
    }
    if (rc) {
        tr__free (items);
        *line_p = lineno;
        return rc;
    }
    *items_p = items;
    *count_p = count;
    return 0;
}

//  Pair zconfig's items under parent (depth level) with the scan's, in
//  file order. Returns false at the first item where they differ.
static bool
s_match (zconfig_t *parent, int level, const s_item_t *items, size_t count, size_t *index,
         s_line_t *lines)
{
    for (zconfig_t *item = zconfig_child (parent); item; item = zconfig_next (item)) {
        if (*index >= count)
            return false;
        const s_item_t *seen = &items[*index];
        const char *name = zconfig_name (item);
        if (seen->level != level || !name || strlen (name) != seen->name_size
            || memcmp (name, seen->name, seen->name_size) != 0)
            return false;
        lines[*index].item = (uintptr_t) item;
        lines[*index].line = seen->line;
        (*index)++;
        if (!s_match (item, level + 1, items, count, index, lines))
            return false;
    }
    return true;
}

static int
s_line_compare (const void *a, const void *b)
{
    uintptr_t x = ((const s_line_t *) a)->item, y = ((const s_line_t *) b)->item;
    return x < y ? -1 : x > y;
}

int
tr__zpl_parse (const char *text, size_t size, tr__zpl_t **self_p, int *line, char *why,
               size_t why_size)
{
    assert (text || size == 0);
    assert (self_p && line && why);
    *self_p = NULL;
    *line = 0;
    if (size > TR__ZPL_MAX_SIZE)
        return s_fail (why, why_size, "larger than %u bytes", TR__ZPL_MAX_SIZE);
    s_item_t *items = NULL;
    size_t count = 0;
    int rc = s_scan (text, size, &items, &count, line, why, why_size);
    if (rc)
        return rc;

    //  zconfig_str_load wants a C string; the scan proved there is no NUL.
    char *copy = tr__alloc (size + 1);
    if (size)
        memcpy (copy, text, size);
    copy[size] = '\0';
    zconfig_t *root = zconfig_str_load (copy);
    tr__free (copy);
    s_line_t *lines = tr__calloc ((count ? count : 1) * sizeof *lines);
    size_t matched = 0;
    if (!root || !s_match (root, 0, items, count, &matched, lines) || matched != count) {
        *line = matched < count ? items[matched].line : 0;
        rc = s_fail (why, why_size, "zconfig read %s differently from troupe's check",
                     *line ? "this line" : "the file");
        zconfig_destroy (&root);
        tr__free (lines);
        tr__free (items);
        return rc;
    }
    tr__free (items);
    qsort (lines, count, sizeof *lines, s_line_compare);
    tr__zpl_t *self = tr__calloc (sizeof *self);
    self->root = root;
    self->lines = lines;
    self->line_count = count;
    *self_p = self;
    return 0;
}

zconfig_t *
tr__zpl_root (tr__zpl_t *self)
{
    assert (self);
    return self->root;
}

int
tr__zpl_line (tr__zpl_t *self, const zconfig_t *item)
{
    assert (self);
    s_line_t key = {(uintptr_t) item, 0};
    const s_line_t *found =
        bsearch (&key, self->lines, self->line_count, sizeof key, s_line_compare);
    return found ? found->line : 0;
}

void
tr__zpl_destroy (tr__zpl_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tr__zpl_t *self = *self_p;
    zconfig_destroy (&self->root);
    tr__free (self->lines);
    tr__free (self);
    *self_p = NULL;
}
