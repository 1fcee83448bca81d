/* plot.h - loss curves from a training log (the JSONL `attn train --log` writes) as a
 * self-contained SVG: train loss and val loss over steps, axes with ticks and labels, a
 * legend. No dependencies; any browser or image viewer opens it.
 *
 * Lines with "loss" are train points, lines with "val_loss" val points; other lines are
 * passed over. Lines that are no JSON object (cut short by a crash) or whose loss cannot be
 * drawn (not a number, not finite, beyond 1e6) are skipped and counted. A step at or before the previous one in a series (a run resumed after a crash
 * logs those steps again) replaces the points from that step on. */
#ifndef ATTN_TRAIN_PLOT_H
#define ATTN_TRAIN_PLOT_H

/* Writes svg_path atomically. title may be NULL (the log's file name is used). Sets
 * *n_train and *n_val to the points drawn and *n_skipped to the lines skipped (any may be
 * NULL). An error when the log has no loss at all, or when svg_path is the log itself. */
int attn_plot_losses(const char *log_path, const char *svg_path, const char *title, int *n_train, int *n_val,
                     int *n_skipped);

#endif
