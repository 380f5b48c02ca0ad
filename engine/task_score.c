/* Scoring under a task's metrics (task_score.h): dispatch to the text,
 * regex-language and SQL scorers. */
#define _GNU_SOURCE /* strdup */
#include "task_score.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfa_equiv.h"
#include "errmsg.h"
#include "score.h"
#include "score_sql.h"

TaskEnv task_env_default(void) {
    DfaLimits d = dfa_limits_default();
    return (TaskEnv){"", d.seconds, d.max_states};
}

/* metric dfa: the regex languages of gen and the target. */
static int score_dfa(const TaskEnv *env, const Example *e, const char *gen, int *ok, int *undecided, char *note,
                     size_t noten, char *err, size_t errn) {
    DfaLimits lim = {env->dfa_seconds, env->dfa_states};
    DfaVerdict v;
    if (nlrx_dfa_equiv(gen, e->assistant, &lim, &v, err, errn)) return -1;
    *ok = v == DFA_EQUAL;
    *undecided = v == DFA_UNDECIDED;
    if (v == DFA_UNDECIDED) snprintf(note, noten, "dfa: undecided within the limits");
    else if (v == DFA_INVALID) snprintf(note, noten, "dfa: the generated regex does not parse");
    return 0;
}

/* metric exec: Spider execution accuracy in the example's database. */
static int score_exec(const TaskEnv *env, const Example *e, const char *gen, int *ok, char *note, size_t noten,
                      char *err, size_t errn) {
    char id[128];
    if (!env->spider_db || !*env->spider_db) { /* not scored: the databases are not shipped */
        *ok = -1;
        return 0;
    }
    if (spider_db_id(e->user, id, sizeof id, err, errn)) return -1;
    SqlLimits lim = sql_limits_default();
    SqlVerdict v;
    char why[200] = "";
    if (spider_exec_match(env->spider_db, id, gen, e->assistant, &lim, &v, why, sizeof why, err, errn)) return -1;
    *ok = v == SQL_MATCH;
    if (!*ok && *why) snprintf(note, noten, "exec: %s", why);
    return 0;
}

int task_score(const Task *t, const TaskEnv *env, const Example *e, const char *generated, int *correct,
               int *undecided, char *note, size_t noten, char *err, size_t errn) {
    char buf[256] = "";
    if (note && noten) note[0] = 0;
    *undecided = 0;
    for (int j = 0; j < task_nmetrics(t); j++) {
        const char *m = t->metrics[j];
        int ok = 0, rc = 0;
        if (!strcmp(m, "dfa")) rc = score_dfa(env, e, generated, &ok, undecided, buf, sizeof buf, err, errn);
        else if (!strcmp(m, "exec")) rc = score_exec(env, e, generated, &ok, buf, sizeof buf, err, errn);
        else {
            TextScorer f = text_metric_find(m);
            if (!f) return errf(err, errn, "task %s: metric '%s' has no scorer", t->name, m);
            ok = f(generated, e->assistant, err, errn);
            rc = ok < 0 ? -1 : 0;
        }
        if (rc) return -1;
        correct[j] = ok;
        if (*buf && note && noten && !*note) snprintf(note, noten, "%s", buf);
    }
    return 0;
}

int task_choices(const Task *t, const Example *e, char **context, char **endings, int *nend, int *gold, char *err,
                 size_t errn) {
    if (strcmp(t->name, "hellaswag") != 0) return errf(err, errn, "task %s has no choices", t->name);
    HellaSwagItem it;
    if (hellaswag_parse(e->user, e->assistant, &it, err, errn)) return -1;
    *nend = 0;
    *context = strdup(it.context);
    for (int i = 0; i < 4; i++) endings[(*nend)++] = strdup(it.endings[i]);
    *gold = it.gold;
    hellaswag_item_free(&it);
    int bad = !*context;
    for (int i = 0; i < *nend; i++) bad |= !endings[i];
    if (bad) {
        task_choices_free(*context, endings, *nend);
        *context = NULL, *nend = 0;
        return errf(err, errn, "out of memory");
    }
    return 0;
}

void task_choices_free(char *context, char **endings, int nend) {
    free(context);
    for (int i = 0; i < nend; i++) free(endings[i]);
}
