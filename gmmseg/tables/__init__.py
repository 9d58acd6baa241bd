"""Tables: reading, feature preparation, RFM, customer segments and anomalies."""
