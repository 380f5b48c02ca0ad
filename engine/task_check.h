/* Load-time checks of the task table (task.h): each returns 0 when example e
 * can be scored by its task, or -1 with why (what was expected). */
#ifndef ENGINE_TASK_CHECK_H
#define ENGINE_TASK_CHECK_H

#include <stddef.h>

#include "data.h"

/* NL-RX: the target regex parses in the NL-RX dialect (regex_nlrx.h). */
int task_check_regex(const Example *e, char *why, size_t whyn);

/* GSM8K: the target has an answer after a "#### " (score.h gsm8k_answer). */
int task_check_gsm8k(const Example *e, char *why, size_t whyn);

/* Spider: the user text names its database, "For db_id:[NAME]" (score_sql.h spider_db_id). */
int task_check_spider(const Example *e, char *why, size_t whyn);

/* HellaSwag: the user text holds a context and endings A) to D), the target a letter (score.h hellaswag_parse). */
int task_check_hellaswag(const Example *e, char *why, size_t whyn);

#endif
