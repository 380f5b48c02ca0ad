/* Load-time checks of the task table (task_check.h). */
#include "task_check.h"

#include <stdio.h>

#include "regex_nlrx.h"
#include "score.h"
#include "score_sql.h"

int task_check_regex(const Example *e, char *why, size_t whyn) {
    char err[200];
    if (nlrx_check(e->assistant, err, sizeof err) == 0) return 0;
    snprintf(why, whyn, "the target regex does not parse in the NL-RX dialect: %s", err);
    return -1;
}

int task_check_gsm8k(const Example *e, char *why, size_t whyn) {
    size_t off, len;
    if (gsm8k_answer(e->assistant, &off, &len)) return 0;
    snprintf(why, whyn, "expected the target to end with a \"#### ANSWER\" line");
    return -1;
}

int task_check_spider(const Example *e, char *why, size_t whyn) {
    char id[128], err[200];
    if (spider_db_id(e->user, id, sizeof id, err, sizeof err) == 0) return 0;
    snprintf(why, whyn, "expected the user text to name its database as \"For db_id:[NAME]\": %s", err);
    return -1;
}

int task_check_hellaswag(const Example *e, char *why, size_t whyn) {
    HellaSwagItem it;
    if (hellaswag_parse(e->user, e->assistant, &it, why, whyn)) return -1;
    hellaswag_item_free(&it);
    return 0;
}
