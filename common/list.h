/*
 * An intrusive doubly linked list: a struct list_node inside each element,
 * a struct list_node as the head (a circle through the head, so insert and
 * unlink need no special case and an unlinked node can be unlinked again).
 * list_entry() gets the element back from its node.
 */
#ifndef KR_LIST_H
#define KR_LIST_H

#include <stddef.h>

struct list_node {
	struct list_node *prev, *next;
};

#define list_entry(node, type, member) ((type *)((char *)(node)-offsetof(type, member)))

/* A head, or a node that is on no list. */
static inline void list_init(struct list_node *n)
{
	n->prev = n->next = n;
}

static inline int list_empty(const struct list_node *head)
{
	return head->next == head;
}

/* Is n on a list (not merely initialised)? */
static inline int list_linked(const struct list_node *n)
{
	return n->next != n;
}

static inline void list_add_after(struct list_node *at, struct list_node *n)
{
	n->prev = at;
	n->next = at->next;
	at->next->prev = n;
	at->next = n;
}

/* At the front (newest first) or the back (in arrival order). */
static inline void list_push_front(struct list_node *head, struct list_node *n)
{
	list_add_after(head, n);
}

static inline void list_push_back(struct list_node *head, struct list_node *n)
{
	list_add_after(head->prev, n);
}

/* Take n off its list; a node on no list is left as it is. */
static inline void list_unlink(struct list_node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	list_init(n);
}

/* Move every node of from to the empty head to (from is left empty). */
static inline void list_take_all(struct list_node *to, struct list_node *from)
{
	list_init(to);
	if (list_empty(from))
		return;
	to->next = from->next;
	to->prev = from->prev;
	to->next->prev = to;
	to->prev->next = to;
	list_init(from);
}

/* Iterate, safe against unlinking the current node. */
#define list_for_each_safe(pos, tmp, head)                                                         \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);                           \
	     (pos) = (tmp), (tmp) = (pos)->next)

#endif
