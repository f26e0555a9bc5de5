"""Face room: landmarks (dlib 68-point), alignment (FFHQ, similarity), and "where an AU
lives" (ROI centres, heatmaps, PI maps, attention maps). Imports only ``aulib.config``."""
